import sys

from musiclab.cli import main

sys.exit(main())
