"""Unit tests of the real carrier adapters against loopback fakes."""
