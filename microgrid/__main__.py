from microgrid.cli import console_main

console_main()
