import Testing

@Test func placeholder_SluicePipelineTests() {}
