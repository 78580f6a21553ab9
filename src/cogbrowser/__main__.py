"""`python -m cogbrowser` is the same as the `cogbrowser` command."""

from cogbrowser.cli import main

if __name__ == "__main__":
    main()
