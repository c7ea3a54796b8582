"""MuZero-Lite: self-play workers and a trainer that share games and checkpoints through files."""
