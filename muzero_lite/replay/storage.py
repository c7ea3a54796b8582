"""Whole games kept for replay, bounded in transitions: the oldest games leave first, whole.

Each game's arrays are kept once: its T + 1 frames in one array per game (never one stack per
position: stacks are gathered by index with `stack_indices` when asked for), and its per-state
rewards, actions, policies and root values as T + 1 rows of a flat `StateLog` shared by all games,
so the targets of a whole batch can be computed in one vectorised call.

Kinds of index (each array's comment says which it holds):
  leaf        0..capacity-1: the key of one stored position, handed out by `PrioritySampler`.
  game number 0, 1, 2, ... in the order games arrive; the live games are consecutive numbers.
  game slot   number % capacity: the row of a game in the per-game arrays (every game has at least
              one move, so at most `capacity` games are live and their slots differ).
  move index  t = 0..T within a game of T moves: state t follows move t - 1. Positions are the
              states 0..T-1 (one per move); the final state T has none. Frames are indexed by it.
  log row     the global number of a state's row in the `StateLog`; it counts up forever as games
              arrive, so it stays valid while rows move.
  log index   where a log row sits in the log's arrays now (row - base); valid until the next game
              is added.
"""

from dataclasses import dataclass

import numpy as np

from muzero_lite.games import GameRecord, validate
from muzero_lite.observations import NO_ACTION, stack_indices


class StateLog:
    """Per-state rewards, actions, policies and root values of the stored games, back to back.

    A game of T moves takes T + 1 rows (states 0..T); its final row has reward 0, action 0 and a
    zero policy (no move is made from it) and the stored root value. Global row numbers keep
    counting up as games arrive; global row r sits at index r - base. Evicting only advances
    `start`; an append that reaches the end first moves the live rows to the front. Live rows never
    exceed twice the transitions, so with 3 * capacity + 1 rows a compacted log always has room for
    one more game and rows are moved O(1) times each on average.
    """

    def __init__(self, capacity_transitions: int, num_actions: int):
        rows = 3 * capacity_transitions + 1
        self.rewards = np.zeros(rows, dtype=np.float32)  # [S] by log index
        self.root_values = np.zeros(rows, dtype=np.float32)  # [S]
        self.actions = np.zeros(rows, dtype=np.int64)  # [S]
        self.policies = np.zeros((rows, num_actions), dtype=np.float32)  # [S, A]
        self.base = 0  # log row of index 0
        self.start = 0  # index of the oldest live row
        self.stop = 0  # index one past the newest live row

    @property
    def num_actions(self) -> int:
        return self.policies.shape[1]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rewards, self.root_values, self.actions, self.policies))

    def append(self, record: GameRecord) -> int:
        """Store the game's T + 1 states; returns the log row of its state 0."""
        length = record.length
        if self.stop + length + 1 > len(self.rewards):
            self._compact()
        first, final = self.stop, self.stop + length
        self.rewards[first:final], self.rewards[final] = record.rewards, 0
        self.actions[first:final], self.actions[final] = record.actions, 0
        self.policies[first:final], self.policies[final] = record.policies, 0
        self.root_values[first : final + 1] = record.root_values
        self.stop = final + 1
        return self.base + first

    def drop(self, rows: int) -> None:
        """Forget the oldest `rows` rows."""
        self.start += rows

    def index(self, rows: np.ndarray) -> np.ndarray:
        """Log indices of log rows ([...] -> [...]); valid until the next `append`."""
        return rows - self.base

    def _compact(self) -> None:
        live = self.stop - self.start
        for array in (self.rewards, self.root_values, self.actions, self.policies):
            array[:live] = array[self.start : self.stop]  # numpy copies safely when they overlap
        self.base += self.start
        self.start, self.stop = 0, live


@dataclass(frozen=True)
class Positions:
    """Where B stored positions lie, from `GameStorage.resolve`; valid until a game is added."""

    games: np.ndarray  # [B] int64 game number
    moves: np.ndarray  # [B] int64 move index t of the position's state (0 <= t < T)
    lengths: np.ndarray  # [B] int64 T of its game: the move index of the game's final state
    starts: np.ndarray  # [B] int64 log index of its game's state 0
    terminated: np.ndarray  # [B] bool, whether its game terminated (else a time limit cut it)

    @property
    def log_indices(self) -> np.ndarray:
        """[B] log index of each position's state."""
        return self.starts + self.moves

    @property
    def final_log_indices(self) -> np.ndarray:
        """[B] log index of each position's final state (the `end` of `replay.targets`)."""
        return self.starts + self.lengths


class GameStorage:
    """Games bounded in transitions, their positions keyed by leaf, inputs gathered by index."""

    def __init__(self, capacity_transitions: int, stack: int):
        if capacity_transitions < 1 or stack < 1:
            raise ValueError("need capacity >= 1 and stack >= 1")
        self.capacity, self.stack = capacity_transitions, stack
        capacity = capacity_transitions
        self._leaf_game = np.zeros(capacity, dtype=np.int32)  # [L] by leaf: game number
        self._leaf_move = np.zeros(capacity, dtype=np.int32)  # [L] by leaf: move index
        self._game_row = np.zeros(capacity, dtype=np.int64)  # [G] by slot: log row of state 0
        self._game_length = np.zeros(capacity, dtype=np.int64)  # [G] by slot: T
        self._game_terminated = np.zeros(capacity, dtype=bool)  # [G] by slot
        self._frames: dict[int, np.ndarray] = {}  # game number -> [T+1, *obs_shape], oldest first
        self._log: StateLog | None = None  # allocated by the first game, which fixes A
        self._num_transitions = 0
        self._next_number = 0

    @property
    def num_transitions(self) -> int:
        return self._num_transitions

    @property
    def num_games(self) -> int:
        return len(self._frames)

    @property
    def log(self) -> StateLog:
        """The per-state rows of the stored games (read their arrays at `Positions` indices)."""
        if self._log is None:
            raise ValueError("no game has been stored yet")
        return self._log

    @property
    def nbytes(self) -> int:
        """Bytes held: the games' frames, the state log and the index arrays."""
        index_arrays = (self._leaf_game, self._leaf_move, self._game_row, self._game_length)
        held = sum(a.nbytes for a in (*index_arrays, self._game_terminated))
        held += sum(frames.nbytes for frames in self._frames.values())
        return held + (self._log.nbytes if self._log is not None else 0)

    def make_room(self, record: GameRecord) -> int:
        """Check that `record` can be stored, then evict the oldest games whole until it fits.

        Returns how many positions left: those of the oldest games, so their leaves are the oldest
        live ones. A game longer than the whole capacity is rejected with ValueError (its newest
        part alone would lack the frames before it), as is one whose observation shape, dtype or
        action count differs from stored games; either way nothing is evicted.
        """
        validate(record)
        length = record.length
        if length > self.capacity:
            raise ValueError(
                f"a game of {length} moves does not fit in a replay of "
                f"{self.capacity} transitions; raise the capacity"
            )
        self._check_compatible(record)
        evicted = 0
        while self._num_transitions + length > self.capacity:
            evicted += self._evict_oldest()
        return evicted

    def add_game(self, record: GameRecord, leaves: np.ndarray) -> int:
        """Store a game that fits (see `make_room`); position t takes leaves[t] ([T]).

        Returns the game's number.
        """
        length = record.length
        if self._num_transitions + length > self.capacity or len(leaves) != length:
            raise ValueError(f"a game of {length} moves needs room and {length} leaves")
        if self._log is None:
            self._log = StateLog(self.capacity, record.policies.shape[1])
        number, slot = self._next_number, self._next_number % self.capacity
        self._game_length[slot], self._game_terminated[slot] = length, record.terminated
        self._game_row[slot] = self._log.append(record)
        self._frames[number] = np.array(record.observations, copy=True)  # owned, compact
        self._leaf_game[leaves], self._leaf_move[leaves] = number, np.arange(length)
        self._num_transitions += length
        self._next_number += 1
        return number

    def locate(self, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(game number [B], move index [B]) of the positions at leaves ([B]), as int64."""
        leaves = np.asarray(leaves, dtype=np.int64)
        return self._leaf_game[leaves].astype(np.int64), self._leaf_move[leaves].astype(np.int64)

    def resolve(self, leaves: np.ndarray) -> Positions:
        """Where the live positions at leaves ([B]) lie: games, moves and log indices."""
        games, moves = self.locate(leaves)
        slots = games % self.capacity
        return Positions(
            games=games,
            moves=moves,
            lengths=self._game_length[slots],
            starts=self.log.index(self._game_row[slots]),
            terminated=self._game_terminated[slots],
        )

    def inputs(self, at: Positions, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacked frames [B, ..., N, *obs_shape] and previous actions [B, ..., N] int64.

        states: [B, ...] move indices (0..T) in the games of `at`, each stacked with the N - 1
        states before it (state 0 repeated, with no action, before the start).
        """
        stacked, previous = stack_indices(states, self.stack)  # [B, ..., N] each
        rows = at.starts.reshape(-1, *[1] * (previous.ndim - 1)) + np.maximum(previous, 0)
        prev_actions = np.where(previous >= 0, self.log.actions[rows], NO_ACTION)
        frames = self._gather_frames(at.games, stacked.reshape(len(at.games), -1))
        return frames.reshape(*stacked.shape, *frames.shape[2:]), prev_actions

    def _gather_frames(self, games: np.ndarray, states: np.ndarray) -> np.ndarray:
        """Frames of states [B, M] of games [B] -> [B, M, *obs_shape]; one gather a game."""
        frames = self._frames[int(games[0])]
        out = np.empty((*states.shape, *frames.shape[1:]), dtype=frames.dtype)
        order = np.argsort(games, kind="stable")  # the batch grouped by game
        starts = np.flatnonzero(np.diff(games[order])) + 1
        for rows in np.split(order, starts):
            out[rows] = self._frames[int(games[rows[0]])][states[rows]]
        return out

    def _evict_oldest(self) -> int:
        """Forget the oldest game whole; returns its number of positions."""
        number = self._next_number - len(self._frames)
        length = int(self._game_length[number % self.capacity])
        self._log.drop(length + 1)
        self._num_transitions -= length
        del self._frames[number]
        return length

    def _check_compatible(self, record: GameRecord) -> None:
        if not self._frames:
            return
        stored = next(iter(self._frames.values()))
        num_actions = self._log.num_actions
        if (
            record.observations.shape[1:] != stored.shape[1:]
            or record.observations.dtype != stored.dtype
            or record.policies.shape[1] != num_actions
        ):
            raise ValueError(
                f"game with observations {record.observations.shape[1:]} "
                f"{record.observations.dtype} and {record.policies.shape[1]} actions differs from "
                f"stored {stored.shape[1:]} {stored.dtype} and {num_actions} actions"
            )
