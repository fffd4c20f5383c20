import Testing

@Test func placeholder_SluicePlanTests() {}
