"""A test-only URLconf: the project's URLs plus the posts and users viewsets with a permission
class added that refuses reads (``/api/refused/``) or refuses them at the object level
(``/api/refused-objects/``), and one with extra actions (``/api/actions/``):
tests/test_early_reads.py."""
