/// HTML bodies of the proxy errors clients see in practice instead of the API's JSON.
enum FaultPages {
    static let badGateway = """
        <html><head><title>502 Bad Gateway</title></head>
        <body><center><h1>502 Bad Gateway</h1></center><hr><center>envoy</center></body></html>

        """

    static let unavailable = """
        <!DOCTYPE html>
        <html lang=en><meta charset=utf-8><title>Error 503 (Service Unavailable)!!1</title>
        <p><b>503.</b> <ins>That's an error.</ins>
        <p>The service you requested is not available at this time. <ins>That's all we know.</ins>

        """
}
