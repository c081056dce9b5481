import sys

from jaxrelu.bench import main

sys.exit(main())
