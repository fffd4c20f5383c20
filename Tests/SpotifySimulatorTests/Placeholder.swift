import Testing

@Test func placeholder_SpotifySimulatorTests() {}
