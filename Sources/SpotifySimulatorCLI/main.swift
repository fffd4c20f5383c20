print("sim: not yet")
