"""Placeholder replaced by the machine runner."""


class Runner:
    def __init__(self, state):
        self.state = state

    def run(self, n_ticks):
        raise NotImplementedError("the machine run path is not integrated yet")

    def reset(self):
        pass

    def forget_network(self):
        pass

    def configure(self, extra):
        pass

    def close(self):
        pass
