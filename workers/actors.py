"""Entry module for ``dramatiq`` (``spacecast worker`` runs ``dramatiq workers.actors``):
installs the broker and registers every actor."""

from workers.app import install

broker = install()
