"""``python -m feldera_events.testing``: run a FakeFeldera until Ctrl-C."""

from feldera_events.testing._runner import main

if __name__ == "__main__":
    raise SystemExit(main())
