"""``python -m howard``: the same as the ``howard`` command."""

from .cli import main

if __name__ == "__main__":
    main()
