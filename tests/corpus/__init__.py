"""The one home of the answers tests hand in: each assignment's reference solution and its
answer variants (``corpus.reproducibility``, ...), and hostile cells shared by several suites
(``corpus.attacks``). Tests import them (``from corpus import reproducibility``) instead of
pasting them; tests/test_suite_layout.py checks that they do."""
