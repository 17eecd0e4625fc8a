"""What tests of several areas share: TCP pairs, kernel peers, lab fixtures, doc blocks."""
