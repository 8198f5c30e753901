"""The method: the SLM cut and its healing, the LLM-to-SLM system, its training and checkpoints."""
