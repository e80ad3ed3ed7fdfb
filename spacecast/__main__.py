from spacecast.cli import main

raise SystemExit(main())
