from asoud.cli import main

main()
