"""knobwise: train, measure, diagnose and tune image classifiers, one knob at a time."""

__version__ = "0.1.0"
