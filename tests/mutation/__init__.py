"""`make mutation`: mutation testing of the modules that decide whether a request is let in (README, "Mutation
testing"). Not collected by pytest: nothing here is named test_*."""
