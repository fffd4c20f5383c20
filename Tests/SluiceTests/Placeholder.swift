import Testing

@Test func placeholder_SluiceTests() {}
