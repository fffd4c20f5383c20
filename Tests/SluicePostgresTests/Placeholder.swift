import Testing

@Test func placeholder_SluicePostgresTests() {}
