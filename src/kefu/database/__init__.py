"""Engine, sessions, the declarative base and its mixins, migrations."""
