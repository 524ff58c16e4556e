from flowtui.cli.main import main

raise SystemExit(main())
