module github.com/stevedore-dev/stevedore

go 1.25
