import Foundation
import SluiceCore

/// The fixture's rules applied to one request at a time: pure apart from the clock reading it is
/// given, so every rule is testable without a socket.
struct FixtureState: Sendable {
    let api: FixtureAPI
    var stats = FixtureStats()
    private var lastAnswered: Double?
    private var order = SplitMix64(seed: 7)
    /// How many more times each id of ``FixtureAPI/unavailableFirst`` is answered as unavailable.
    private var unavailableLeft: [String: Int]
    /// The pages of ``FixtureAPI/failingPageOnce`` not yet failed.
    private var failingPageOnce: Set<String>
    /// The statuses of ``FixtureAPI/pageStatuses`` not yet answered.
    private var pageStatuses: [String: [Int]]

    init(api: FixtureAPI) {
        self.api = api
        unavailableLeft = api.unavailableFirst
        failingPageOnce = api.failingPageOnce
        pageStatuses = api.pageStatuses
    }

    mutating func respond(to request: FixtureRequest, at now: Double) -> FixtureReply {
        var reply = ruled(request, at: now)
        if api.echoesRequest, reply.status == 200, case .object(var members)? = try? JSON.decode(reply.body) {
            members["echo"] = .object([
                "query": .string(request.query), "body": .string(String(decoding: request.body, as: UTF8.self)),
                "headers": .object(request.headers.mapValues(Value.string)),
            ])
            reply = FixtureReply(200, json: .object(members))
        }
        guard api.echoesCredentials, reply.status >= 400 else { return reply }
        let sent: (String, String)?
        if let name = api.requiredHeader?.name {
            sent = request.headers[name.lowercased()].map { (name, $0) }
        } else if let name = api.requiredBodyField?.name {
            sent = (try? JSON.decode(request.body))?[name].stringValue.map { (name, $0) }
        } else {
            sent = nil
        }
        guard let (name, sent) = sent else { return reply }
        let message = (try? JSON.decode(reply.body))?["error"].stringValue ?? "error"
        return .error(reply.status, "\(message) (you sent \(name): \(sent))")
    }

    private mutating func ruled(_ request: FixtureRequest, at now: Double) -> FixtureReply {
        stats.requests += 1
        stats.seenURLs.append(request.path + (request.query.isEmpty ? "" : "?" + request.query))
        stats.methods.append(request.method)
        stats.userAgents.append(request.headers["user-agent"])
        stats.headers.append(request.headers)
        if !request.body.isEmpty { stats.rawBodies.append(String(decoding: request.body, as: UTF8.self)) }
        if let origin = api.redirectsTo {
            var reply = FixtureReply.error(307, "moved")
            var query = request.query
            // As a careless server does, the address repeats the request's credentials.
            if api.echoesRequest {
                let sent = (request.headers["authorization"] ?? "") + String(decoding: request.body, as: UTF8.self)
                let encoded = sent.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? sent
                query += (query.isEmpty ? "" : "&") + "echo=" + encoded
            }
            reply.location = origin + request.path + (query.isEmpty ? "" : "?" + query)
            return reply
        }
        if let path = api.moved[request.path] {
            var reply = FixtureReply.error(api.movedStatus, "moved")
            reply.location =
                (path.hasPrefix("/") ? "http://\(request.headers["host"] ?? "")" : "") + path
                + (request.query.isEmpty ? "" : "?" + request.query)
            return reply
        }
        if api.gone.contains(request.path) { return .error(410, "this endpoint is retired") }
        if api.requiresUserAgent, !Self.namesAnApplication(request.headers["user-agent"]) {
            stats.refused += 1
            return .error(
                403,
                "Requests need a User-Agent naming the application, its version and a contact, "
                    + "e.g. 'MyApp/1.0 ( me@example.com )'")
        }
        if let (name, value) = api.requiredHeader, request.headers[name.lowercased()] != value {
            stats.refused += 1
            return .error(401, "missing or invalid \(name)")
        }
        let limit = stats.requests <= api.limitAnswers.count ? api.limitAnswers[stats.requests - 1] : nil
        if let limit, let status = limit.status {
            stats.throttled += 1
            var reply = FixtureReply.error(status, limit.message)
            reply.headers = limit.headers
            return reply
        }
        if let interval = api.minInterval, let last = lastAnswered,
            now - last < interval.seconds - api.arrivalJitter.seconds
        {
            stats.throttled += 1
            return .error(
                503, "Your requests are exceeding the allowable rate limit. Please see the rate limit documentation.")
        }
        var reply = answer(request)
        reply.headers.merge(limit?.headers ?? [:]) { _, limit in limit }
        if reply.status < 400 || reply.status == 404 {
            stats.answered += 1
            stats.answeredAt.append(now)
            lastAnswered = now
        } else {
            stats.badRequests += 1
        }
        return reply
    }

    /// An object holding the answer of each id it knows, keyed by the id; 400 for no ids or more
    /// than ``FixtureAPI/maxIDs``.
    private mutating func answerKeyedByID(_ ids: [String], parameter: String) -> FixtureReply {
        guard !ids.isEmpty, ids.count <= api.maxIDs else {
            return .error(400, "\(parameter) needs 1 to \(api.maxIDs) ids")
        }
        stats.idsAsked += ids
        var object: [String: Value] = [:]
        for id in ids { if let item = api.answers[id] { object[id] = item } }
        return FixtureReply(200, json: .object(object))
    }

    private mutating func answer(_ request: FixtureRequest) -> FixtureReply {
        if let most = api.maxTargetLength, request.path.count + 1 + request.query.count > most {
            return FixtureReply(
                414, text: "<html><head><title>414 Request-URI Too Large</title></head></html>",
                contentType: "text/html")
        }
        let parameters = request.parameters
        for (name, value) in api.requiredQuery where parameters[name] != value {
            return FixtureReply(200, text: api.nonJSONBody, contentType: "text/plain")
        }
        switch api.shape {
        case .pagedList(let prefix, let paging):
            return page(of: request, prefix: prefix, paging: paging)
        case .perItem(let prefix):
            guard request.method == "GET", request.path.hasPrefix(prefix) else { return .error(404, "Not Found") }
            let id = String(request.path.dropFirst(prefix.count)).removingPercentEncoding ?? ""
            stats.idsAsked.append(id)
            guard let item = api.answers[id] else { return .error(404, "Not Found") }
            return FixtureReply(200, json: item)
        case .batchObject(let path, let parameter, let separator):
            guard request.method == "GET", request.path == path else { return .error(404, "Not Found") }
            let ids = (parameters[parameter] ?? "").components(separatedBy: separator).filter { !$0.isEmpty }
            return answerKeyedByID(ids, parameter: parameter)
        case .batchRepeated(let path, let parameter):
            guard request.method == "GET", request.path == path else { return .error(404, "Not Found") }
            return answerKeyedByID(request.values(of: parameter).filter { !$0.isEmpty }, parameter: parameter)
        case .batchList(let path, let bodyKey, let resultsKey):
            guard request.path == path else { return .error(404, "Not Found") }
            guard request.method == "POST" else { return .error(405, "use POST") }
            guard let body = try? JSON.decode(request.body), case .array(let list) = body[bodyKey] else {
                return .error(400, "the body must be a JSON object with an array \"\(bodyKey)\"")
            }
            let ids = list.compactMap(\.stringValue)
            guard ids.count == list.count, !ids.isEmpty, ids.count <= api.maxIDs else {
                return .error(400, "\(bodyKey) needs 1 to \(api.maxIDs) string ids")
            }
            stats.idsAsked += ids
            if ids.contains(where: api.failing.contains) { return .error(500, api.failureMessage) }
            var items = ids.compactMap { id -> Value? in
                guard let left = unavailableLeft[id], left > 0 else { return api.answers[id] }
                unavailableLeft[id] = left - 1
                return .object(["id": .string(id), "status": "unavailable"])
            }
            // Any order: the client must match items by the id they carry.
            for i in items.indices.reversed() where i > 0 {
                items.swapAt(i, Int(order.next() % UInt64(i + 1)))
            }
            return FixtureReply(200, json: .object([resultsKey: .array(items)]))
        case .itemBody(let path, let idKey):
            guard request.path == path else { return .error(404, "Not Found") }
            guard request.method == "POST" else { return .error(405, "use POST") }
            guard request.headers["content-type"] == "application/json", let body = try? JSON.decode(request.body),
                case .object = body
            else { return .error(400, "the body must be a JSON object") }
            stats.bodies.append(body)
            if let (name, value) = api.requiredBodyField, body[name].stringValue != value {
                return .error(401, "\(name) is missing or wrong")
            }
            guard let id = body[idKey].text, !(body[idKey].stringValue?.isEmpty ?? false) else {
                return .error(400, "\(idKey) is required")
            }
            stats.idsAsked.append(id)
            if api.unprocessable.contains(id) { return .error(422, "\(idKey) \(id) is not valid") }
            if api.failing.contains(id) { return .error(500, api.failureMessage) }
            if api.garbled.contains(id) {
                var reply = FixtureReply(200, json: .object(["name": "Caf"]))
                reply.body.insert(0xE9, at: reply.body.count - 2)
                return reply
            }
            if api.notGzip.contains(id) {
                var reply = FixtureReply(200, json: .object(["name": "plain"]))
                reply.contentEncoding = "gzip"
                return reply
            }
            guard let item = api.answers[id] else { return .error(404, "no record for \(idKey) \(id)") }
            return FixtureReply(200, json: item)
        }
    }

    /// A page of the id's list, laid out as `paging` says.
    private mutating func page(of request: FixtureRequest, prefix: String, paging: Paging) -> FixtureReply {
        let method = paging.style.inBody ? "POST" : "GET"
        // Where a POST's page was seen other (303): the page of that cursor, asked with a GET.
        let seeOther = paging.style == .bodyCursor && request.method == "GET" ? request.parameters["see_other"] : nil
        guard request.method == method || seeOther != nil, request.path.hasPrefix(prefix) else {
            return .error(404, "Not Found")
        }
        let id = String(request.path.dropFirst(prefix.count)).removingPercentEncoding ?? ""
        stats.idsAsked.append(id)
        guard case .array(let list)? = api.answers[id] else { return .error(404, "Not Found") }
        let parameters = request.parameters
        var size = paging.size
        let start: Int
        switch paging.style {
        case .nextURL, .linkHeader: start = (Int(parameters["start"] ?? "0") ?? 0) * size
        case .cursor: start = (Int((parameters["after"] ?? "c0").dropFirst()) ?? 0) * size
        case .bodyCursor:
            var cursor = seeOther
            if seeOther == nil {
                let body = (try? JSON.decode(request.body)) ?? .null
                stats.bodies.append(body)
                cursor = paging.cursorField.split(separator: ".").reduce(body) { $0[String($1)] }.stringValue
            }
            start = (Int((cursor ?? "c0").dropFirst()) ?? 0) * size
        case .bodyOffset, .bodyPage:
            let body = (try? JSON.decode(request.body)) ?? .null
            stats.bodies.append(body)
            let place = paging.style == .bodyOffset ? paging.offsetField : paging.pageField
            // A search API takes numbers only: text ("3") is a 400, as Elasticsearch's is.
            func number(at path: String, absent: Int) -> Int? {
                switch path.split(separator: ".").reduce(body, { $0[String($1)] }) {
                case .null: absent
                case .int(let number) where number >= 0: Int(number)
                default: nil
                }
            }
            guard let asked = number(at: paging.sizeField, absent: size), asked > 0,
                let at = number(at: place, absent: 0)
            else { return .error(400, "\(place) and \(paging.sizeField) must be whole numbers") }
            size = asked
            start = paging.style == .bodyOffset ? at : at * size
        case .offset:
            size = Int(parameters["limit"] ?? "") ?? size
            start = Int(parameters["offset"] ?? "0") ?? 0
        case .page:
            size = Int(parameters["per_page"] ?? "") ?? size
            start = ((Int(parameters["page"] ?? "1") ?? 1) - 1) * size
        case .startingAfter:
            size = Int(parameters["limit"] ?? "") ?? size
            if let after = parameters["starting_after"] {
                guard let index = list.firstIndex(where: { $0[paging.idKey].text == after }) else {
                    return .error(400, "No such object: '\(after)'")
                }
                start = index + 1
            } else {
                start = 0
            }
        }
        let number = start / max(1, size) + 1
        if failingPageOnce.remove("\(id)#\(number)") != nil { return .error(500, api.failureMessage) }
        if let status = pageStatuses["\(id)#\(number)"]?.first {
            pageStatuses["\(id)#\(number)"]?.removeFirst()
            var reply = FixtureReply.error(status, "page \(number) of \(id): \(status)")
            if (300...399).contains(status) {
                let there = paging.style == .bodyCursor ? "see_other=c\(number - 1)" : "page=\(number)"
                reply.location = "http://\(request.headers["host"] ?? "")\(request.path)?\(there)"
            }
            return reply
        }
        let items = Array(list.dropFirst(start).prefix(size))
        let more = start + size < list.count
        let override = paging.nextOverride["\(id)#\(number)"]
        // The same request with the next page's parameter: what an API's own next link is.
        func next(_ name: String, _ value: String) -> String {
            override ?? request.path + "?"
                + (request.pairs.filter { $0.name != name }.map { "\($0.name)=\($0.value)" } + ["\(name)=\(value)"])
                .joined(separator: "&")
        }
        switch paging.style {
        case .nextURL:
            let link: Value = more || override != nil ? .string(next("start", String(number))) : .null
            return FixtureReply(200, json: .object(["items": .array(items), "links": .object(["next": link])]))
        case .linkHeader:
            var reply = FixtureReply(200, json: .array(items))
            if more || override != nil {
                let target = next("start", String(number))
                let host = "http://\(request.headers["host"] ?? "")"
                let absolute = target.hasPrefix("http") ? target : host + target
                reply.headers["Link"] = "<\(absolute)>; rel=\"next\", <\(host)/last>; rel=\"last\""
            }
            return reply
        case .cursor:
            let cursor = override ?? (more ? "c\(number)" : "")
            return FixtureReply(
                200, json: .object(["items": .array(items), "meta": .object(["next_cursor": .string(cursor)])]))
        case .offset,
            .page where paging.numberedHasMore,
            .bodyOffset, .bodyPage:
            var answer: [String: Value] = [paging.style.inBody ? "hits" : "items": .array(items)]
            if paging.numberedHasMore { answer["has_more"] = .bool(paging.hasMoreOverride["\(id)#\(number)"] ?? more) }
            return FixtureReply(200, json: .object(answer))
        case .page: return FixtureReply(200, json: .array(items))
        case .bodyCursor:
            let cursor: Value = override.map { .string($0) } ?? (more ? .string("c\(number)") : .null)
            return FixtureReply(
                200,
                json: .object([
                    "object": "list", "results": .array(items), "has_more": .bool(more), "next_cursor": cursor,
                ]))
        case .startingAfter:
            var answer: [String: Value] = ["object": "list", "data": .array(items), "url": .string(request.path)]
            if paging.hasMore { answer["has_more"] = .bool(paging.hasMoreOverride["\(id)#\(number)"] ?? more) }
            return FixtureReply(200, json: .object(answer))
        }
    }

    /// `Name/version ( contact )` or `Name/version (contact)`: an application and a way to reach
    /// its author, not a library's default.
    static func namesAnApplication(_ userAgent: String?) -> Bool {
        guard let userAgent, let slash = userAgent.firstIndex(of: "/"), slash > userAgent.startIndex,
            let open = userAgent.firstIndex(of: "("), let close = userAgent.lastIndex(of: ")"), open < close
        else { return false }
        let contact = userAgent[userAgent.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
        return !contact.isEmpty
    }
}
