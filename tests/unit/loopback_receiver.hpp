// A tiny HTTP/1.1 server on 127.0.0.1 for tests of POST requests (the mock providers only serve GET): one
// thread, one request per connection, answers from a script and records what it received.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace aispend::test {

class LoopbackReceiver {
  public:
    struct Reply {
        int status = 200;
        std::string body = "ok";
        std::string headers;     // extra header lines, each ending in "\r\n"
        long delay_ms = 0;       // before answering
        bool drop = false;       // close the connection without answering
        bool no_length = false;  // no Content-Length: the body ends when the connection closes
    };
    static Reply answer(int status, std::string body = "ok", std::string headers = {}) {
        Reply reply;
        reply.status = status;
        reply.body = std::move(body);
        reply.headers = std::move(headers);
        return reply;
    }
    struct Received {
        std::string method;
        std::string target;   // path and query
        std::string headers;  // the header lines as sent, names lower-cased
        std::string body;
    };

    // Answers the i-th request with script[i]; the last reply repeats.
    explicit LoopbackReceiver(std::vector<Reply> script) : script_(std::move(script)) {
        if (script_.empty()) script_.push_back(Reply{});
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        if (listener_ < 0) throw std::runtime_error("socket() failed");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        socklen_t size = sizeof address;
        if (bind(listener_, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
            listen(listener_, 16) != 0 ||
            getsockname(listener_, reinterpret_cast<sockaddr *>(&address), &size) != 0) {
            close(listener_);
            throw std::runtime_error("cannot listen on 127.0.0.1");
        }
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    LoopbackReceiver(const LoopbackReceiver &) = delete;
    LoopbackReceiver &operator=(const LoopbackReceiver &) = delete;
    ~LoopbackReceiver() {
        stop_ = true;
        thread_.join();
        close(listener_);
    }

    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<Received> received() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return received_;
    }

  private:
    // Waits until fd is readable; false when stopping or after timeout_ms.
    bool readable(int fd, long timeout_ms) const {
        for (long waited = 0; !stop_ && waited < timeout_ms; waited += 20) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 20) > 0) return true;
        }
        return false;
    }

    void pause(long ms) const {
        for (long slept = 0; !stop_ && slept < ms; slept += 10)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    static void send_all(int fd, const std::string &data) {
        size_t sent = 0;
        while (sent < data.size()) {
            ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return;  // the client gave up: fine
            sent += static_cast<size_t>(n);
        }
    }

    // Reads one request; false when the client closed or sent nothing in time.
    bool read_request(int fd, Received *request) const {
        std::string data;
        char buffer[16384];
        size_t header_end = std::string::npos;
        size_t length = 0;
        for (;;) {
            if (header_end == std::string::npos) {
                header_end = data.find("\r\n\r\n");
                if (header_end != std::string::npos) {
                    std::string head = data.substr(0, header_end);
                    size_t line_end = head.find("\r\n");
                    std::string first = head.substr(0, line_end);
                    size_t space = first.find(' ');
                    request->method = first.substr(0, space);
                    request->target = first.substr(space + 1, first.rfind(' ') - space - 1);
                    request->headers = line_end == std::string::npos ? "" : head.substr(line_end + 2);
                    bool name = true;
                    for (char &c : request->headers) {
                        if (c == ':') name = false;
                        if (c == '\n') name = true;
                        if (name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    }
                    size_t at = request->headers.find("content-length:");
                    if (at != std::string::npos) length = std::stoul(request->headers.substr(at + 15));
                }
            }
            if (header_end != std::string::npos && data.size() >= header_end + 4 + length) {
                request->body = data.substr(header_end + 4, length);
                return true;
            }
            if (!readable(fd, 5000)) return false;
            ssize_t n = recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0) return false;
            data.append(buffer, static_cast<size_t>(n));
        }
    }

    static const char *reason(int status) {
        switch (status) {
            case 200:
                return "OK";
            case 404:
                return "Not Found";
            case 429:
                return "Too Many Requests";
            case 500:
                return "Internal Server Error";
            case 503:
                return "Service Unavailable";
            default:
                return "Whatever";
        }
    }

    void serve() {
        while (!stop_) {
            if (!readable(listener_, 100)) continue;
            int fd = accept(listener_, nullptr, nullptr);
            if (fd < 0) continue;
            Received request;
            if (read_request(fd, &request)) {
                Reply reply;
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    reply = script_[std::min(received_.size(), script_.size() - 1)];
                    received_.push_back(std::move(request));
                }
                pause(reply.delay_ms);
                if (!reply.drop && !stop_) {
                    std::string response = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                                           reason(reply.status) + "\r\nConnection: close\r\n" + reply.headers;
                    if (!reply.no_length)
                        response += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
                    send_all(fd, response + "\r\n" + reply.body);
                }
            }
            close(fd);
        }
    }

    std::vector<Reply> script_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<Received> received_;
    std::thread thread_;
};

}  // namespace aispend::test
