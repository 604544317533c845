#!/usr/bin/env python3
"""Runs every integration test module (tests/integration/test_*.py) against the real binaries.

Each test_* function takes no argument; it fails by raising. The last line is
'N passed, N failed' (and skipped), which CI reads. Usage: run.py [NAME_SUBSTRING ...]
"""
import glob
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

Skip = harness.Skip


def main():
    wanted = sys.argv[1:]
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for attr in sorted(vars(mod), key=lambda a: getattr(getattr(mod, a), "__code__", None)
                           and getattr(mod, a).__code__.co_firstlineno or 0):
            fn = getattr(mod, attr)
            if attr.startswith("test_") and callable(fn):
                full = "%s.%s" % (name, attr)
                if not wanted or any(w in full for w in wanted):
                    tests.append((full, fn))
    passed = failed = skipped = 0
    failures = []
    for full, fn in tests:
        t0 = time.monotonic()
        try:
            try:
                fn()
            finally:
                harness.release_ports()
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (full, e), flush=True)
            continue
        except Exception:
            failed += 1
            failures.append(full)
            print("FAIL %s (%.1fs)\n%s" % (full, time.monotonic() - t0,
                                           traceback.format_exc()), flush=True)
            continue
        passed += 1
        print("ok   %s (%.1fs)" % (full, time.monotonic() - t0), flush=True)
    if failures:
        print("failed: " + " ".join(failures))
    print("integration: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
