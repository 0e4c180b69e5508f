import sys

from musiclab.gui.app import main

sys.exit(main())
