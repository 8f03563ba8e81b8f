from shimimg.cli import main

raise SystemExit(main())
