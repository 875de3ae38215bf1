"""Figures: arrays in, matplotlib Figure out (Agg backend; nothing shown or saved here)."""
