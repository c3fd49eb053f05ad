"""Stands in for the tagmail layer: importable by handlers only through the template's Layers."""

GREETING = "hello from the layer"
