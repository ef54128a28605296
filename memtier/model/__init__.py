"""The cost model of page migration and its fit to measurements."""
