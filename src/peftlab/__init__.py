"""peftlab: fine-tune a frozen causal LM with soft prompts, LoRA or its last layer, and measure honestly
which one pays off.

The Python API in five names:

    from peftlab import RunConfig, load_model, apply_method, train, load_run
"""

__version__ = "0.1.0"
