from deftmer.cli import main

if __name__ == "__main__":   # spawned fold workers import this module again: never rerun the CLI there
    main()
