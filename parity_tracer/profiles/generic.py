"""The profile of a ``--targets`` file: the file's capture points and nothing else (no package root, no import
hooks, no observers)."""


class GenericProfile:
    name = "generic"
    root = None

    def points(self, settings):
        from parity_tracer.targets import allowed_handler_modules, load_targets_file
        return load_targets_file(settings.targets, allowed_modules=allowed_handler_modules(settings)) \
            if settings.targets else []

    def setup(self, agent):
        pass

    def teardown(self):
        pass


def profile():
    return GenericProfile()
