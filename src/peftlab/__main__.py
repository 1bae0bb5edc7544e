"""`python -m peftlab ...`: the entry point torchrun and accelerate launch start each rank with
(`torchrun --nproc_per_node 2 -m peftlab train ...`)."""

import sys

from .cli import main

if __name__ == "__main__":  # importing the module (the import checks do) runs nothing
    sys.exit(main())
