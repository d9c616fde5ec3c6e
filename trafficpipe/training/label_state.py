"""How completely an image labels a class (from its `exhaustive` / `partial` lists); losses.py says what each means
to the training loss."""
EXHAUSTIVE, PARTIAL, UNLISTED = 0, 1, 2
