import Testing

@Test func placeholder_SluiceHTTPTests() {}
