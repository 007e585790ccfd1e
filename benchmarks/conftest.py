def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="the full-size benchmark table")
