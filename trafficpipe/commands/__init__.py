"""CLI subcommands that belong to no single subpackage."""
