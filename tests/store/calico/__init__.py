"""Tests for pyrr.store.calico: resources, selectors, the peers they ask for."""
