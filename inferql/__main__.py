from __future__ import annotations

from inferql.cli import main

raise SystemExit(main())
