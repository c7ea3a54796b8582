"""Runs entry points in one interpreter, as `python <script> <args>` would (test_bad_input).

    python tests/children/entry_points_in_process.py < cases.json   (run from the repository root)

stdin holds a JSON list of argv lists ([script, *args]); each runs with runpy as __main__. Prints
one JSON line: [exit status, stderr] per case, the status "traceback" for an escaping exception.
"""

import contextlib
import io
import json
import runpy
import sys
import traceback


def main() -> None:
    results = []
    for argv in json.loads(sys.stdin.read()):
        sys.argv, err = argv, io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                runpy.run_path(argv[0], run_name="__main__")
                status = 0
            except SystemExit as e:
                status = e.code
            except BaseException:
                traceback.print_exc()
                status = "traceback"
        results.append([status, err.getvalue()])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
