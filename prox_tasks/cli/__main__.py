import sys

from prox_tasks.cli import main

sys.exit(main())
