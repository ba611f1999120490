from deftmer.cli import main

main()
