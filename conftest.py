pytest_plugins = ["tests.support.fixtures", "tests.support.running", "tests.support.senders"]
