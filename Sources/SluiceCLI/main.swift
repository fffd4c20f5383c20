print("sluice: not yet")
