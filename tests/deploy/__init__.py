"""Tests of the deployment helpers in deploy/."""
